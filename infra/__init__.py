"""The deployable definition. Never shipped to Lambda.

- `python -m infra.build` regenerates the committed CloudFormation merge templates
  (`infra/resources.json` for dev, `infra/resources-prod.json`) and the IAM policy
  files Chalice requires (`.chalice/policy-<stage>.json`) from the PynamoDB models,
  the Chalice app and `.chalice/config.json`; `--check` fails on drift.
- `python -m infra.package --stage dev` runs `chalice package --merge-template`
  into `out/dev/` and makes the deployment zip lean (see `infra.package`).
"""

"""`diem`: the command line for marketers and operators, an HTTP client of the API.

It talks to the API only over HTTP (`DIEM_URL`), never imports the service's
code (`chalicelib`): it can be installed and run anywhere the API is reachable.
"""

__version__ = "1.0.0"

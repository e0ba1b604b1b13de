from conftest import OPERATOR, auth


def test_health(api):
    r = api.get("/v1/health")
    assert r.status_code == 200 and r.data == {"status": "ok"}


def test_subscriber_earns_points(api):
    r = api.put("/v1/subscribers/0961234567", {"activated_on": "2020-01-15", "plan": "prepaid"}, headers=OPERATOR)
    assert r.status_code == 201, r.data
    r = api.post(
        "/v1/spend-events",
        {
            "event_id": "e1",
            "msisdn": "0961234567",
            "amount_vnd": 100000,
            "service": "mobile",
            "occurred_at": "2026-11-20T03:00:00Z",
        },
        headers=OPERATOR,
    )
    assert r.status_code == 201, r.data
    assert r.data["earned"] == {"rank_points": 5000, "spendable_points": 5000}
    r = api.get("/v1/subscribers/84961234567/points", headers=auth("subscriber", "84961234567"))
    assert r.status_code == 200, r.data
    assert r.data["balance"] == 5000

"""Points for network products (DOMAIN.md): the catalogue marketers manage,
orders that debit points and ask the operator's charging system to provision,
and the settlement of orders the charging system did not answer."""

"""Points: earning from paid spend, tenure bonuses, adjustments, FEFO spending,
expiry, and the ledger. Every balance change is one DynamoDB transaction."""

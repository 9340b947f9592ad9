"""`leadflow import`: CRM exports (HubSpot, Salesforce CSV) turned into contract events.

The reading of cells (`timestamps`, `cells`), the mapping (`mapping`), the record
joins of each CRM (`hubspot`, `salesforce`) and the finishing of events (`drafts`)
are pure: rows in, events and a report out. Files, Kafka and the terminal are the
command's business (`command`).
"""

"""The topic catalog, JSON Schemas and VOEvent handling shared by every skyalert service."""

"""GCN Circulars: the model, numbering, event ids, submission rules, publishing, search, import."""

"""GCN Classic notices: the notice types (as data), and readers of their text and binary forms."""

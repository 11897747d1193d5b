"""mmmodel: the model library (loaders, encoders, fusion, heads, train, evaluate, export)."""

"""Data: one module per data set format (reader, prepare step, DataSetKind), paired transforms, the embedded generators."""

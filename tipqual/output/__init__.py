"""Writing files safely: atomic text outputs and Excel workbooks."""

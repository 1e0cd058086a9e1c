"""opforge's contrib op library: one op per module, written with the SDK itself."""

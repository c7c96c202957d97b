"""The offline artifact bundle: manifest, lock, fetching, building, serving."""

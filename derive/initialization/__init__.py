"""Initialisation: He, LeCun and Glorot scales derived with SymPy, and the variance simulation."""

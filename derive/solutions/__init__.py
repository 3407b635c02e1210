"""Worked solutions: the content of a derivation's document, scalar and matrix, built from a graph and its derivation."""

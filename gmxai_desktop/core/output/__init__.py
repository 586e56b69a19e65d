"""What leaves the core for people: colour-mapped overlays and publication figures.
"""

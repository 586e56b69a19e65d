"""Attribution: the method registry (one class per algorithm), targets and the engine that shares work.
"""

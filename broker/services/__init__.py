"""Service functions: every state change goes through one of these.

Services add and flush; the caller (a view's request or a job's batch) owns the
transaction and commits once. The acting user is always an argument.
"""

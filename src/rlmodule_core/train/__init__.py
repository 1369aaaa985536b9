"""Training: the Learner, env runners and sampling, the algorithms and the training loop.

Nothing in the module API imports this package; it builds on the API.
"""

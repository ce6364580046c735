"""The results contract, shared by ``sweeps`` (which writes the store) and ``analysis``
(which reads it). No torch and no Ray here: every side of the store may import it.
"""

"""Field uploads: memory cards sent with the tus protocol, then imported by a background job.

tus.py speaks tus through the resumable-upload library; destination.py checks where a card goes
before any byte is sent; cards.py receives a finished upload, imports it as a job, and says how
far it got.
"""

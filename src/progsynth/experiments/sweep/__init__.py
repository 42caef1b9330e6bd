"""Scaling and sensitivity studies (``progsynth sweep``): many ordinary runs from one file.

``config`` reads and checks the file, ``cells`` turns it into run configurations with their own
directories and running order, ``cost`` says what it will take, ``runner`` runs what is not done and
keeps ``sweep.json`` (``results``) current. The study view is ``progsynth.report.study``.
"""

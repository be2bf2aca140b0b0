"""The studio's web app (``s2edit studio``); its state and computation live in ``projector.studio``."""

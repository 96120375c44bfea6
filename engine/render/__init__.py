"""Renderers behind one interface: the instant CPU renderer and the diffusion (DiT) renderer."""

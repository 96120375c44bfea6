"""Networks of the X-UniMotion model (arXiv 2508.09383), one file per architecture.

config (presets), motion_encoder (E, E_f, E_h, crops), retarget_decoder (D), dit (the video DiT),
aux_decoders (D_h, D_n), latent_codec (pixels / AutoencoderKL), unimotion (all of them), losses, checkpoint.
Importing this package imports nothing heavy; import the submodules you need. No trained weights exist yet.
"""

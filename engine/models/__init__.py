"""Networks, one file per architecture.

warp_dit: the warp-guided generator that ships (assets/generator/), a residual on the instant render.
The paper's X-UniMotion model (arXiv 2508.09383), without trained weights: config (presets),
motion_encoder (E, E_f, E_h, crops), retarget_decoder (D), dit (the video DiT), aux_decoders (D_h, D_n),
latent_codec (pixels / AutoencoderKL), unimotion (all of them), losses. checkpoint reads and writes both.
Importing this package imports nothing heavy; import the submodules you need.
"""

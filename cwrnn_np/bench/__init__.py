r"""The speed benchmark, ``python -m cwrnn_np.bench`` (also ``cwrnn bench``): the NumPy
reference, the Numba kernels and PyTorch eager ports (:mod:`~cwrnn_np.bench.torch_ports`, with
the optional ``bench`` extra), side by side in one run (:mod:`~cwrnn_np.bench.runner`).
"""

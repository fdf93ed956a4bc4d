"""Data sets, all offline: one module per data set, each citing its source.

* :mod:`~cwrnn_np.data.generation`: the paper's §4.1 sequence-generation targets (Koutník et al.
  2014): embedded music-like clips, or windows of matplotlib's EEG and membrane recordings;
* :mod:`~cwrnn_np.data.vowels`: Japanese Vowels (Kudo, Toyama and Shimbo 1999) from the UEA
  ``.ts`` format;
* :mod:`~cwrnn_np.data.text`: character-level text (any UTF-8 file, or the Python standard
  library's own source), vocabulary, splits and (L, B) batches;
* :mod:`~cwrnn_np.data.synthetic`: the adding problem and copy memory, with configurable length.

:data:`DATASETS` names each task for ``cwrnn list``. Nothing here touches the network.
"""
from . import generation, synthetic, text, vowels
from .generation import (GENERATION_SOURCES, embedded_clips, generation_dataset,
                         matplotlib_clips, scale_clip)
from .synthetic import (adding_problem, copy_memory, copy_memory_baseline, hold_problem,
                        regimes_problem)
from .text import (STDLIB_FILES, Vocabulary, batch_stream, one_hot, random_windows, read_text,
                   split, stdlib_corpus)
from .vowels import (find_japanese_vowels, load_japanese_vowels, pad_sequences, parse_ts,
                     sort_labels)

#: short task name -> one-line description, for ``cwrnn list``
DATASETS = {
    "generation": "reproduce 320-sample music-like clips (embedded synthesiser; the paper's §4.1)",
    "generation-eeg": "reproduce 320-sample windows of matplotlib's eeg.dat (4 EEG channels)",
    "generation-membrane": "reproduce 320-sample windows of matplotlib's membrane.dat recording",
    "vowels": "classify the speaker of Japanese Vowels utterances (9 classes, 12 channels, "
              "lengths 7-29; needs --data-dir or sktime/aeon)",
    "text": "next-character prediction on a UTF-8 file (default: Python standard-library source)",
    "adding": "adding problem: sum the two marked values of a long sequence",
    "copy": "copy memory: reproduce 10 symbols after a long delay",
}

__all__ = [
    "DATASETS", "generation", "synthetic", "text", "vowels",
    "GENERATION_SOURCES", "embedded_clips", "generation_dataset", "matplotlib_clips",
    "scale_clip",
    "adding_problem", "copy_memory", "copy_memory_baseline", "hold_problem", "regimes_problem",
    "STDLIB_FILES", "Vocabulary", "batch_stream", "one_hot", "random_windows", "read_text",
    "split", "stdlib_corpus",
    "find_japanese_vowels", "load_japanese_vowels", "pad_sequences", "parse_ts", "sort_labels",
]

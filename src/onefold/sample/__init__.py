"""Sample data generator: a fictional retailer's channel exports with a known ground truth.

`generate(out, persons, seed)` writes one export per channel as its real system would (own
column names, formats and quirks), a ground-truth file naming the true person behind every
record, and a mapping YAML per source, so identity resolution can be demoed and measured.
"""

from onefold.sample.generator import SampleSummary, generate, mapping_files

__all__ = ["SampleSummary", "generate", "mapping_files"]

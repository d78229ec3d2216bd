"""The analysis of results folders: statistics, figures and reports.  Reads
what ``isocl.bench`` writes; never trains."""

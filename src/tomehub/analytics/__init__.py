"""Analytics over a user's library: concordance (keyword in context) and term distribution, both read
from the BM25 postings that search already keeps (``lexeme_postings``)."""

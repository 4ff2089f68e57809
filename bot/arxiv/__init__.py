"""arXiv: the listing and export API client, feed parsing, paper ids, full text and the category taxonomy."""

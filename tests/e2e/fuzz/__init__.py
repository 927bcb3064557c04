"""The fuzz suite: hostile requests to real ``stepwell start`` and ``stepwell dev`` processes."""

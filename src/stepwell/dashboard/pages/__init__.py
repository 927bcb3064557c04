"""One module a page; each has ``routes(ctx)`` and renders templates named after it."""

"""Browser tests of the dashboard: a real server process, Debian's Chromium driven by Playwright."""

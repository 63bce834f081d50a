"""A stand-in for Paynow (www.paynow.co.zw) in test mode, as a program of its own.

It speaks Paynow's merchant protocol over HTTP at Paynow's own paths, so a merchant (the
payments service, or Paynow's official SDK with its URLs pointed here) cannot tell it from
Paynow: web and express checkout, poll URLs, signed status posts to the merchant's result
URL, the documented test-mode numbers, a page where a person approves a web checkout, and
fault switches for tests. `python -m paynow_simulator`; it serves until stopped.
"""

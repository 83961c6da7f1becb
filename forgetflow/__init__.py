"""forgetflow: make a language model forget what it must not keep, and prove that it did."""

__version__ = "0.1.0"

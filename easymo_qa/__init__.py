"""easymo-qa: black-box test, fault and load-validation harness for the easyMO WhatsApp agents."""

__version__ = "0.1.0"

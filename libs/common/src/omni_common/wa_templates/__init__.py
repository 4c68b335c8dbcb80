"""WhatsApp message templates: the model and filling one in (``model``), the tenant's copy of Meta's
list (``store``), keeping it in step with Meta (``sync``) and what owners are told (``notices``)."""

"""The WhatsApp Cloud API side of the harness: webhook payloads, signing, outbound rules, users."""

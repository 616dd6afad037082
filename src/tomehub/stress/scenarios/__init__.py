"""The SRE report's scenarios, one module each."""

"""The court record: the .docx filled into a template, and the interchange formats."""

"""The stable names other plugins refer to, in a module that imports nothing: the section
id (explanations and presets name its fields by id) and the SMTP transport's name."""

SECTION_ID = "smtp"
SMTP = "smtp"

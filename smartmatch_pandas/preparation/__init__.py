"""A frame made ready to send: the column mapping, normalising, the upload table, checks.

Pure data work: nothing here touches the network or the job store.
"""

"""Background work on RQ: queues, thin task functions and scheduled maintenance."""

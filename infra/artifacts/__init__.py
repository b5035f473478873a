"""Deploy artifacts built on the control machine: the wheelhouse every target ships from."""

"""The aezoo application: the ``aezoo`` command line and the quickstart tour.

It sits above the three library packages and may import all of them; they
never import it::

    aezoo (this package)  ->  benchmarks  ->  export  ->  zoo
"""

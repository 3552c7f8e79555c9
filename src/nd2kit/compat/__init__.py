"""The APIs users know: nd2 0.12's ``ND2File``/``imread`` and limnd2's ``Nd2Reader``.

This is the only package where foreign naming (limnd2's camelCase) lives.
"""

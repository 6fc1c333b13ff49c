"""kfconf's benchmark suite: `python -m bench [--quick] [--only NAME…]`. Not part of the wheel or the tests."""

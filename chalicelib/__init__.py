"""diem: loyalty points and shopping vouchers, as Lambda functions."""

"""JD's sign and timestamp, checked against strings written out by hand (not computed by the code)."""

import hashlib
from datetime import UTC, datetime

from platforms.jd import signing

SECRET = "s3cr3t"


def md5_upper(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


def test_plain_ascii_params_sorted_by_name_and_wrapped_in_the_secret():
    params = {
        "v": "2.0",
        "method": "jingdong.pop.order.search",
        "app_key": "APPKEY",
        "timestamp": "2024-05-01 12:00:00",
        "format": "json",
        "access_token": "TOKEN",
        "360buy_param_json": '{"pageIndex":1}',
    }
    expected = md5_upper(
        "s3cr3t"
        '360buy_param_json{"pageIndex":1}'
        "access_tokenTOKEN"
        "app_keyAPPKEY"
        "formatjson"
        "methodjingdong.pop.order.search"
        "timestamp2024-05-01 12:00:00"
        "v2.0"
        "s3cr3t"
    )
    assert signing.sign(params, SECRET) == expected
    assert len(expected) == 32 and expected == expected.upper()


def test_chinese_business_params_are_signed_as_utf8_bytes():
    params = {"method": "m", "360buy_param_json": '{"reason":"退款单不存在"}'}
    raw = 's3cr3t360buy_param_json{"reason":"退款单不存在"}methodms3cr3t'.encode()
    assert signing.sign(params, SECRET) == hashlib.md5(raw).hexdigest().upper()
    # and not, say, the GBK bytes JD's older SDKs sometimes sent
    gbk = 's3cr3t360buy_param_json{"reason":"退款单不存在"}methodms3cr3t'.encode("gbk")
    assert signing.sign(params, SECRET) != hashlib.md5(gbk).hexdigest().upper()


def test_empty_values_are_skipped():
    with_empty = {"method": "m", "access_token": "", "v": "2.0"}
    assert signing.sign(with_empty, SECRET) == md5_upper("s3cr3tmethodmv2.0s3cr3t")


def test_the_sign_parameter_itself_is_ignored():
    params = {"method": "m", "v": "2.0", "sign": "WHATEVER"}
    assert signing.sign(params, SECRET) == md5_upper("s3cr3tmethodmv2.0s3cr3t")


def test_parameter_order_does_not_matter():
    a = {"method": "m", "app_key": "K", "v": "2.0"}
    b = {"v": "2.0", "app_key": "K", "method": "m"}
    assert signing.sign(a, SECRET) == signing.sign(b, SECRET) == md5_upper("s3cr3tapp_keyKmethodmv2.0s3cr3t")


def test_a_different_secret_gives_a_different_sign():
    params = {"method": "m"}
    assert signing.sign(params, SECRET) != signing.sign(params, "other")


def test_timestamp_is_beijing_wall_time():
    utc = datetime(2024, 1, 31, 20, 30, 5, tzinfo=UTC)
    assert signing.jd_timestamp(utc) == "2024-02-01 04:30:05"


def test_timestamp_round_trips_as_shanghai_time():
    parsed = signing.parse_jd_timestamp("2024-02-01 04:30:05")
    assert parsed == datetime(2024, 1, 31, 20, 30, 5, tzinfo=UTC)


def test_response_key_uses_jds_spelling():
    assert (
        signing.response_key("jingdong.pop.afs.soa.refundapply.queryPageList")
        == "jingdong_pop_afs_soa_refundapply_queryPageList_responce"
    )

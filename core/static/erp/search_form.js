/* The list toolbar of the admin theme (search box, filters, date ranges): django-simpleui's
 * admin/search_form.html script, moved out of the page (templates/admin/search_form.html).
 *
 * The theme generated this script per page and printed the search text into it unescaped, so a
 * crafted link ran its own script. Here nothing of the page is ever JavaScript source: the search
 * text, placeholder and time-zone suffix are attributes of #toolbar, and the filters' keys are the
 * v-model names the template gives their inputs. The page then needs no inline script, which our
 * Content-Security-Policy refuses (core/security.py). */
(function () {
  var toolbar = document.getElementById("toolbar");
  var form = document.getElementById("changelist-search");
  if (!toolbar || !form) {
    return;
  }

  // Empty fields are left out of the query, as the theme did.
  function preSubmit() {
    $(form).find("input[name!='']").each(function () {
      if ($(this).val() == "") {
        $(this).removeAttr("name");
      }
    });
  }
  form.addEventListener("submit", preSubmit);

  window.getLanuage = function (key) {
    if (!window.Lanuages) {
      return "";
    }
    var val = Lanuages[key];
    if (!val || val == "") {
      val = key;
    }
    return val;
  };
  Date.prototype.format = function (fmt) {
    var o = {
      "M+": this.getMonth() + 1,
      "d+": this.getDate(),
      "h+": this.getHours(),
      "m+": this.getMinutes(),
      "s+": this.getSeconds(),
      "q+": Math.floor((this.getMonth() + 3) / 3),
      "S": this.getMilliseconds()
    };
    if (/(y+)/.test(fmt))
      fmt = fmt.replace(RegExp.$1, (this.getFullYear() + "").substr(4 - RegExp.$1.length));
    for (var k in o)
      if (new RegExp("(" + k + ")").test(fmt))
        fmt = fmt.replace(RegExp.$1, (RegExp.$1.length == 1) ? (o[k]) : (("00" + o[k]).substr(("" + o[k]).length)));
    return fmt;
  };

  var tzSuffix = toolbar.getAttribute("data-tz-suffix") || "";
  var data = {
    placeholder: toolbar.getAttribute("data-placeholder") || "",
    searchInput: toolbar.getAttribute("data-query") || ""
  };
  // A date range picker (v-model = the field) writes its two hidden inputs, field__gte and
  // field__lte; the other filters are a select and a hidden input sharing one v-model name.
  var dateFields = [];
  toolbar.querySelectorAll("[v-model]").forEach(function (el) {
    var key = el.getAttribute("v-model");
    if (key === "searchInput") {
      return;
    }
    data[key] = "";
    if (el.tagName.toLowerCase() === "el-date-picker") {
      dateFields.push({key: key, type: (el.getAttribute("type") || "").replace(/range$/, "")});
    }
  });

  var watch = {};
  dateFields.forEach(function (field) {
    var gte = field.key + "__gte", lte = field.key + "__lte";
    watch[field.key] = function (newValue) {
      try {
        if (newValue) {
          if (newValue[0] != "" && newValue[1] != "") {
            if (field.type == "date") {
              this[gte] = newValue[0].format("yyyy-MM-dd");
              this[lte] = newValue[1].format("yyyy-MM-dd");
            } else if (field.type == "datetime") {
              this[gte] = newValue[0].format("yyyy-MM-dd hh:mm:ss" + tzSuffix);
              this[lte] = newValue[1].format("yyyy-MM-dd hh:mm:ss" + tzSuffix);
            }
          }
        } else {
          this[gte] = "";
          this[lte] = "";
        }
      } catch (e) {
        //
      }
    };
  });

  window.searchApp = new Vue({
    el: "#toolbar",
    data: data,
    created: function () {
      var self = this;
      // The current filter's values, from the page's hidden inputs. Only the filters this toolbar
      // has: a parameter's name comes from the URL.
      $(".form-params").each(function () {
        var key = $(this).attr("data-name");
        if (Object.prototype.hasOwnProperty.call(data, key)) {
          self[key] = $(this).val();
        }
      });
      dateFields.forEach(function (field) {
        self[field.key] = [self[field.key + "__gte"], self[field.key + "__lte"]];
      });
    },
    watch: watch,
    methods: {
      changeDate: function () {},
      changeDatetime: function () {},
      formSubmit: function () {
        preSubmit();
        form.submit();
      }
    }
  });
})();
